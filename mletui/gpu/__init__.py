"""GPUs and resources: the NVML sampler (one injectable module), per-process CPU and memory,
and attribution of processes to runs.
"""
