"""The pipeline above the packages: the whole config, one function per stage that reads the run
folder, calls the packages and writes the stage's artifacts, and the runner that chains them.
The top-level scripts parse arguments and call these; nothing below imports this package."""
