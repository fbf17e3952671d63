"""deepens: the library behind the deep-ensembles loss-landscape workflow.

It knows nothing about Snakemake: every function takes plain arguments, so it can be
tested alone and used from a notebook. Modules that need TensorFlow (models, training,
prediction) import it themselves; everything else runs without it.
"""
