"""The GPU side: the Akash-hosted run launcher, the GPU worker service and diffusers pipelines.

Kept apart from the code location so it can be built into its own image; nothing here is
imported by movie_assets, and torch/diffusers are only needed through the `gpu` extra.
Video segments and GPU producers arrive in a later release.
"""
