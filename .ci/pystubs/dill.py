# Stands in for the third-party `dill` package where it is not installed: the tutorial's
# task_master.py imports it, but the only lines that use it are commented out.
