"""Put on PYTHONPATH by the tests: any import of TensorFlow or Keras fails loudly.

Used to prove that the analysis and figure jobs run without TensorFlow.
"""
import sys


class _BlockTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
            raise ImportError(f"{name} imported in a job that must not import TensorFlow")
        return None


sys.meta_path.insert(0, _BlockTensorFlow())
