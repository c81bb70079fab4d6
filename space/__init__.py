"""Stage II-A: object detectors. SPACE (learned), colour segmentation and the true objects,
behind one ``ObjectSource`` interface, with training, evaluation and their command line."""
