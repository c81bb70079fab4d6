"""Symbolic policies on top of gplearn: forests of programs, distillation, torch compilation, export."""
