"""CNN visualization: model zoo, synthetic data and training, activations, gradient ascent, Deep Dream."""

import warnings

# Keras 3 warns on every call of a model loaded from a legacy .h5 (its input is named as a list);
# the call is correct, and the warning would flood the server log on each slider move.
warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match the expected structure")
