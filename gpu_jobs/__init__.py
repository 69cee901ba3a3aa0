"""Where runs execute: the run launchers (GPU runs on Akash leases, the other runs forked from a
warm local process), the GPU worker service and the diffusers pipelines.

Kept apart from the code location so it can be built into its own image: movie_assets imports
from here only inside functions, and torch/diffusers are only needed through the `gpu` extra.
`pipelines` runs the diffusers models behind resources/producers/diffusers/generators.py (imported
only
when such a producer runs); `model_source` finds a model without importing torch.
"""
