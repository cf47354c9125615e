"""The slurm runtime: the run's supervisor is a Slurm batch job, the agent under it as on the
local runtime.

- :mod:`~mletui.runtimes.slurm.commands`: Slurm's own commands (``sbatch``, ``squeue``,
  ``scontrol``, ``scancel``, ``sinfo``), read as text; no library linked against libslurm.
- :mod:`~mletui.runtimes.slurm.runtime`: what every mletui process does with a run (submit, show
  it queued with Slurm's reason, freeze, thaw, stop), from the login node or any other.
- :mod:`~mletui.runtimes.slurm.agent`: the supervisor's side, inside the job on its node.

The run folder must be on storage both the login node and the job's node see (``MLETUI_HOME``
on the cluster's shared filesystem): everything between them goes through it.
"""
