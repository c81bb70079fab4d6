"""The symbolic-policy language: judges (operators), object-slot features, programs and forests,
their torch compilation and their export. It imports numpy, torch, sympy, gplearn and ``common``
only, so every stage can use it and it depends on none."""
