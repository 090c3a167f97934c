"""float32 constants shared by the NWM-compatible kernels (numba freezes them as float32 literals)."""

import numpy as np

F0 = np.float32(0.0)
F1 = np.float32(1.0)
F2 = np.float32(2.0)
