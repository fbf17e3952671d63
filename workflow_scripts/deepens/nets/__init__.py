"""The TensorFlow side of the pipeline: networks (models), their training (pipeline, training),
and their evaluation (evaluation, predict, representations, subspace_sampling, landscape_eval).

Only the TensorFlow jobs (train, evaluate_checkpoints, evaluate_solution, landscape_*) import
from here; everything outside deepens.nets is numpy/pyarrow/h5py and never imports TensorFlow,
so the analysis jobs start fast and run in the light analysis environment.
"""
