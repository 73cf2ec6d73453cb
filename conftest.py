"""Under nbval the notebooks' outputs are compared with the stored ones, which hold the reports and
not progress bars: kernels started by this test session run with progress bars off."""
import os

os.environ.setdefault("LAYER_LAB_PROGRESS", "0")
