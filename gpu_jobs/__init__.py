"""The GPU side: the Akash-hosted run launcher, the GPU worker service and diffusers pipelines.

Kept apart from the code location so it can be built into its own image; nothing here is
imported by movie_assets, and torch/diffusers are only needed through the `gpu` extra.
`pipelines` runs the diffusers models behind resources/producers/diffusers.py (imported only
when such a producer runs); `model_source` finds a model without importing torch.
"""
