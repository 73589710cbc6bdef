"""Many utterances, one forward pass: Kokoro's model batched with padding and masks.

KModel speaks one utterance at a time. Two kinds of batch are run here: Audition and A/B read the
*same* phonemes in many voices (ALBERT and the text encoder then run once for all of them), and
concurrent jobs read *their own* next chunks (worker.model.batcher: the tokens are padded too).
Everything after the durations runs as one batch padded to the longest row on a GPU; on a CPU
the decoder runs row by row on every core (`rows_alone`, forward_batch says why). Padding alone would
change the audio (attention and instance norms would average over it, convolutions and LSTMs would
read it, the STFT would reflect at the wrong end), so ALBERT masks it, every step here zeroes it
before a convolution reads it, normalises over each row's own frames, packs the LSTMs, and runs the
STFT and iSTFT per row. Each row gets the samples its own KModel.forward would give (tests compare
them on the stand-in weights, with the source's random phase and noise fixed). Only kokoro's own
layers are called: its weights are ours."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def scaled_durations(duration: torch.Tensor, speeds: torch.Tensor) -> torch.Tensor:
    """Frames per token [B, T] at each row's speed, totalling kokoro's own speed-1 total divided
    by the speed (rounded). kokoro rounds each token after dividing by the speed and keeps at
    least one frame, so short tokens cannot shrink: English read at 1.25 lasted 0.84x as long
    (measured on the real weights), not 0.80x. The frames they cannot give up are taken from the
    tokens rounded up the most (or, when slower, given to those rounded down the most). At speed 1
    this is exactly kokoro's rounding."""
    scaled = duration / speeds[:, None]
    frames = torch.round(scaled).clamp(min=1)
    target = torch.round(torch.round(duration).clamp(min=1).sum(dim=-1) / speeds)
    for b in range(frames.shape[0]):
        while (excess := int(frames[b].sum() - target[b])) != 0:
            if excess > 0:  # too long: take a frame from the most over-rounded tokens above one frame
                slack = torch.where(frames[b] > 1, frames[b] - scaled[b], torch.full_like(scaled[b], -torch.inf))
                k = min(excess, int((frames[b] > 1).sum()))
                if k == 0:
                    break
                frames[b, torch.topk(slack, k).indices] -= 1
            else:  # too short: give a frame to the most under-rounded tokens
                k = min(-excess, frames.shape[1])
                frames[b, torch.topk(scaled[b] - frames[b], k).indices] += 1
    return frames.long()


@torch.inference_mode()
def forward_many(kmodel, phonemes: str, styles: torch.Tensor, speeds: list[float],
                 exact_speed: bool = True, durations: bool = False, rows_alone: bool = False) -> list:
    """Audio (1-D, on the CPU) for each style row [B, 256] reading `phonemes` at its speed.
    exact_speed: durations by `scaled_durations`; False rounds each token as kokoro does.
    durations: (audio, frames per input token) for each row instead, for word timings.
    rows_alone: see forward_batch."""
    return forward_batch(kmodel, [phonemes] * styles.shape[0], styles, speeds, exact_speed, durations, rows_alone)


@torch.inference_mode()
def forward_batch(kmodel, phonemes: list[str], styles: torch.Tensor, speeds: list[float],
                  exact_speed: bool = True, durations: bool = False, rows_alone: bool = False,
                  ready: Callable[[int, Any], None] | None = None) -> list:
    """forward_many for rows that each read their own phonemes (the chunks of concurrent jobs):
    the tokens are padded too, ALBERT masks them from attention, and the text encoders and LSTMs
    pack each row to its own length. One text for every row runs ALBERT and the text encoder once.
    rows_alone: each row's decoder (~90 % of the work) then runs by itself on its own frames, one
    row after another (a CPU's way); else the decoder too runs in one padded pass (a GPU's way).
    Why on a CPU: padding does not make the decoder cheaper per sample there (its convolutions cost
    the same per row, and many rows' activations no longer stay in cache), and one row on every
    core beat rows a core each at once (README "Batching concurrent jobs"). ready(b, result): with
    rows_alone, called as each row's result is made (before the next row is decoded), so the batcher
    hands a job its chunk without waiting for the rest of the batch; the padded pass makes every row
    at once and does not call it."""
    device = kmodel.device
    rows = [[i for i in (kmodel.vocab.get(p) for p in text) if i is not None] for text in phonemes]
    assert max(map(len, rows)) + 2 <= kmodel.context_length, (max(map(len, rows)) + 2, kmodel.context_length)
    batch, shared = styles.shape[0], len(set(phonemes)) == 1
    token_counts = [len(r) + 2 for r in rows]
    tokens = max(token_counts)
    input_ids = torch.zeros((batch, tokens), dtype=torch.long)
    for b, r in enumerate(rows):
        input_ids[b, 1:len(r) + 1] = torch.LongTensor(r)
    input_ids = input_ids.to(device)
    lengths = torch.tensor(token_counts)
    pad = (torch.arange(tokens)[None, :] >= lengths[:, None]).to(device)  # True on padding tokens
    styles = styles.to(device)
    s_pro, s_dec = styles[:, 128:], styles[:, :128]

    # No style enters ALBERT or the text encoder: one text is read once for every voice.
    text_rows = slice(0, 1) if shared else slice(None)
    d_en = kmodel.bert_encoder(kmodel.bert(input_ids[text_rows], attention_mask=(~pad[text_rows]).int()))
    d_en = d_en.transpose(-1, -2).expand(batch, -1, -1)
    t_en = kmodel.text_encoder(input_ids[text_rows], lengths[text_rows], pad[text_rows]).expand(batch, -1, -1)

    pred = kmodel.predictor
    d = pred.text_encoder(d_en, s_pro, lengths, pad)
    x = _packed(pred.lstm, d, token_counts)
    duration = torch.sigmoid(pred.duration_proj(x)).sum(dim=-1)  # [B, T], padding tokens included
    pred_dur = torch.zeros((batch, tokens), dtype=torch.long, device=device)
    for b, (n, speed) in enumerate(zip(token_counts, speeds)):  # each row over its own tokens only
        own, rate = duration[b:b + 1, :n], torch.tensor([speed], device=device, dtype=duration.dtype)
        pred_dur[b, :n] = (scaled_durations(own, rate) if exact_speed
                           else torch.round(own / rate).clamp(min=1).long())[0]

    frames = pred_dur.sum(dim=1).tolist()  # each row's own length
    alignment = torch.zeros((batch, tokens, max(frames)), device=device)
    for b in range(batch):
        index = torch.repeat_interleave(torch.arange(tokens, device=device), pred_dur[b])
        alignment[b, index, torch.arange(index.shape[0], device=device)] = 1
    en = d.transpose(-1, -2) @ alignment  # padding frames (and padding tokens) align to nothing: zeros
    asr = t_en @ alignment

    f0, noise = _f0n(pred, en, s_pro, frames)
    dec = kmodel.decoder
    if not rows_alone and not getattr(dec, "one_row", False):
        waves = _decode(dec, asr, f0, noise, s_dec, frames)
        return [(wave, pred_dur[b, :n].cpu()) for b, (wave, n) in enumerate(zip(waves, token_counts))] \
            if durations else waves

    def alone(b: int):
        """Row b by kokoro's own decoder on its own frames (int8's decoder reads one row at a time)."""
        n = frames[b]
        row = (asr[b:b + 1, :, :n], f0[b:b + 1, :2 * n], noise[b:b + 1, :2 * n], s_dec[b:b + 1])
        # Fresh contiguous tensors: a compiled decoder's guards then see one layout for every row (a
        # view's strides and offset differ per row, and each difference compiled anew).
        wave = dec(*(x.clone(memory_format=torch.contiguous_format) for x in row)).squeeze().cpu()
        return (wave, pred_dur[b, :token_counts[b]].cpu()) if durations else wave

    out = []
    for b in range(batch):
        out.append(alone(b))
        if ready is not None:
            ready(b, out[-1])
    return out


def _packed(lstm, x: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """An LSTM over [B, T, C] that reads each row's own first `lengths` steps (zeros after them)."""
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    out, _ = lstm(packed)
    return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]


def _clear(x: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """Zero each row's padding in place (only the padding is touched: cheap on long rows)."""
    for b, n in enumerate(lengths):
        if n < x.shape[-1]:
            x[b, ..., n:] = 0
    return x


def _adain(norm, x: torch.Tensor, s: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """kokoro's AdaIN1d with the instance statistics of each row's own frames only."""
    if all(n == x.shape[-1] for n in lengths):
        normed = norm.norm(x)
    else:  # InstanceNorm's own kernel on each row's frames: the same statistics as unbatched
        normed = torch.zeros_like(x)
        for b, n in enumerate(lengths):
            normed[b:b + 1, :, :n] = norm.norm(x[b:b + 1, :, :n])
    gamma, beta = torch.chunk(norm.fc(s)[:, :, None], chunks=2, dim=1)
    return _clear((1 + gamma) * normed + beta, lengths)


def _resblk(block, x: torch.Tensor, s: torch.Tensor, lengths: list[int]) -> tuple[torch.Tensor, list[int]]:
    """kokoro's AdainResBlk1d; returns the output and its lengths (doubled when it upsamples)."""
    out_lengths = [2 * n for n in lengths] if block.upsample_type != "none" else lengths
    r = block.actv(_adain(block.norm1, x, s, lengths))
    r = _clear(block.pool(r), out_lengths)  # a transposed conv only spreads the zeroed padding
    r = block.conv1(r)
    r = block.actv(_adain(block.norm2, r, s, out_lengths))
    r = block.conv2(r)
    out = (r + block._shortcut(x)) * torch.rsqrt(torch.tensor(2.0))
    return _clear(out, out_lengths), out_lengths


def _resblock1(block, x: torch.Tensor, s: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """kokoro's AdaINResBlock1 (the generator's snake blocks)."""
    for c1, c2, n1, n2, a1, a2 in zip(block.convs1, block.convs2, block.adain1, block.adain2,
                                      block.alpha1, block.alpha2):
        xt = _adain(n1, x, s, lengths)
        xt = c1(xt + (1 / a1) * (torch.sin(a1 * xt) ** 2))  # snake(0) = 0: padding stays zero
        xt = _adain(n2, xt, s, lengths)
        xt = c2(xt + (1 / a2) * (torch.sin(a2 * xt) ** 2))
        x = _clear(xt + x, lengths)
    return x


def _f0n(pred, en, s, frames: list[int]):
    """ProsodyPredictor.F0Ntrain; the bidirectional LSTM is packed so it never reads padding."""
    x = _packed(pred.shared, en.transpose(-1, -2), frames).transpose(-1, -2)
    f0, lengths = x, frames
    for block in pred.F0:
        f0, lengths = _resblk(block, f0, s, lengths)
    noise, lengths = x, frames
    for block in pred.N:
        noise, lengths = _resblk(block, noise, s, lengths)
    return _clear(pred.F0_proj(f0), lengths).squeeze(1), _clear(pred.N_proj(noise), lengths).squeeze(1)


def _decode(dec, asr, f0_curve, noise, s, frames: list[int]) -> list[torch.Tensor]:
    """istftnet.Decoder on the padded batch; `frames` at the alignment's rate (the F0 curve has
    twice as many)."""
    f0 = _clear(dec.F0_conv(f0_curve.unsqueeze(1)), frames)
    n = _clear(dec.N_conv(noise.unsqueeze(1)), frames)
    x, lengths = _resblk(dec.encode, torch.cat([asr, f0, n], dim=1), s, frames)
    asr_res = _clear(dec.asr_res(asr), frames)
    residual = True
    for block in dec.decode:
        if residual:
            x = torch.cat([x, asr_res, f0, n], dim=1)
        x, lengths = _resblk(block, x, s, lengths)
        if block.upsample_type != "none":
            residual = False
    return _generate(dec.generator, x, s, f0_curve, lengths)


def _generate(gen, x, s, f0_curve, lengths: list[int]) -> list[torch.Tensor]:
    """istftnet.Generator: harmonic source, upsampling with snake blocks, iSTFT per utterance."""
    har = _harmonics(gen, f0_curve, lengths)
    for i in range(gen.num_upsamples):
        x = F.leaky_relu(x, negative_slope=0.1)
        last = i == gen.num_upsamples - 1
        # The last stage's reflection pad adds one frame at the left.
        lengths = [n * gen.ups[i].stride[0] + int(last) for n in lengths]
        x_source = _resblock1(gen.noise_res[i], _clear(gen.noise_convs[i](har), lengths), s, lengths)
        x = gen.ups[i](x)
        if last:
            x = gen.reflection_pad(x)
        x = _clear(x + x_source, lengths)
        x = sum(_resblock1(gen.resblocks[i * gen.num_kernels + j], x, s, lengths)
                for j in range(gen.num_kernels)) / gen.num_kernels
    x = gen.conv_post(_clear(F.leaky_relu(x), lengths))
    half = gen.post_n_fft // 2 + 1
    spec, phase = torch.exp(x[:, :half, :]), torch.sin(x[:, half:, :])
    # iSTFT per utterance: its window normalisation and centre trim are edge-dependent.
    return [gen.stft.inverse(spec[b:b + 1, :, :n], phase[b:b + 1, :, :n]).squeeze().cpu()
            for b, n in enumerate(lengths)]


def _harmonics(gen, f0_curve, lengths: list[int]) -> torch.Tensor:
    """SourceModuleHnNSF + the STFT of its output, as kokoro computes them, per row's own length."""
    sine_gen = gen.m_source.l_sin_gen
    scale = int(gen.f0_upsamp.scale_factor)  # samples per F0 frame
    f0 = gen.f0_upsamp(f0_curve[:, None]).transpose(1, 2)  # [B, samples, 1]
    # fp32 harmonic numbers, as kokoro's own (a FloatTensor): under bf16 autocast f0 is bf16, and
    # bf16 products summed into the phase below drift by whole cycles (the harmonics jitter).
    fn = f0 * torch.arange(1, sine_gen.harmonic_num + 2, device=f0.device, dtype=torch.float32)
    rad = (fn / sine_gen.sampling_rate) % 1
    rand_ini = torch.rand(fn.shape[0], fn.shape[2], device=fn.device)
    rand_ini[:, 0] = 0
    rad[:, 0, :] = rad[:, 0, :] + rand_ini
    rad = F.interpolate(rad.transpose(1, 2), scale_factor=1 / scale, mode="linear").transpose(1, 2)
    phase = torch.cumsum(rad, dim=1) * 2 * torch.pi
    # Linear upsampling clamps at each utterance's own end: repeat its last phase into the padding.
    for b, n in enumerate(lengths):
        phase[b, n:, :] = phase[b, n - 1, :]
    phase = F.interpolate(phase.transpose(1, 2) * scale, scale_factor=scale, mode="linear").transpose(1, 2)
    sines = torch.sin(phase) * sine_gen.sine_amp
    uv = (f0 > sine_gen.voiced_threshold).float()
    noise_amp = uv * sine_gen.noise_std + (1 - uv) * sine_gen.sine_amp / 3
    sines = sines * uv + noise_amp * torch.randn_like(sines)
    source = gen.m_source.l_tanh(gen.m_source.l_linear(sines)).transpose(1, 2).squeeze(1)
    rows = []
    for b, n in enumerate(lengths):
        mag, ang = gen.stft.transform(source[b:b + 1, :n * scale])
        rows.append(torch.cat([mag, ang], dim=1))
    width = max(r.shape[-1] for r in rows)
    return torch.cat([F.pad(r, (0, width - r.shape[-1])) for r in rows])
