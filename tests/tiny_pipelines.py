"""Tiny diffusers pipelines with random weights, built from configs and saved to a folder.

No download: the tokenizer is made here with the `tokenizers` library (a word-level vocabulary),
the models from small configs. The saved folders load with from_pretrained exactly like a real
model from the Hugging Face cache, so the producers run their real code path on them."""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "a the of and in on to with glacier glaciers valley valleys ice river mountain slow camera "
    "move shot style documentary cinematic picture animate motion light water sky snow rock"
).split()

# The still the tests ask the tiny text-to-image pipeline for: small, so it is drawn fast.
TINY_STILL = {"style": "documentary", "width": 64, "height": 112}


def _tokenizer(max_length: int):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, "<s>": 3}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        bos_token="<s>",
        model_max_length=max_length,
    ), len(vocab)


def _saved(folder: Path, make_pipeline) -> Path:
    """`make_pipeline(tokenizer, vocab_size)` with torch seeded (the same random weights every
    time), saved to `folder` as from_pretrained reads it."""
    import torch

    torch.manual_seed(0)
    make_pipeline(*_tokenizer(16)).save_pretrained(folder)
    return folder


def build_text_to_image(folder: Path) -> Path:
    """A Stable-Diffusion-shaped pipeline (UNet, VAE, CLIP text encoder) a few MB in size."""
    return _saved(folder, _text_to_image)


def build_ltx_video(folder: Path) -> Path:
    """An LTX-Video-shaped pipeline (transformer, causal video VAE, T5 encoder): serves both
    LTXPipeline (text-to-video) and LTXImageToVideoPipeline (image-to-video)."""
    return _saved(folder, _ltx_video)


def _text_to_image(tokenizer, vocab: int):
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        norm_num_groups=4,
        attention_head_dim=4,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 16),
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        norm_num_groups=4,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=3,
            eos_token_id=1,
            pad_token_id=0,
            hidden_size=16,
            intermediate_size=32,
            num_attention_heads=2,
            num_hidden_layers=1,
            vocab_size=vocab,
            max_position_embeddings=16,
        )
    )
    return StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=EulerDiscreteScheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def _ltx_video(tokenizer, vocab: int):
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )
    from transformers import T5Config, T5EncoderModel

    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=2,
        attention_head_dim=8,
        cross_attention_dim=16,
        num_layers=1,
        caption_channels=16,
    )
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    text_encoder = T5EncoderModel(
        T5Config(
            vocab_size=vocab,
            d_model=16,
            d_kv=8,
            d_ff=32,
            num_layers=1,
            num_heads=2,
            relative_attention_num_buckets=8,
            pad_token_id=0,
            eos_token_id=1,
        )
    )
    return LTXPipeline(
        transformer=transformer,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=FlowMatchEulerDiscreteScheduler(),
    )
