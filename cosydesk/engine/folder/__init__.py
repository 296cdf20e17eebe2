"""The model folder: its file list, yaml hyper-parameters and checkpoints, read as data."""
