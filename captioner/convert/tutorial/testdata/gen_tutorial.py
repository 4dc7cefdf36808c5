"""Writes checkpoints in the layout of the PyTorch captioning tutorial
(sgrvinod/a-PyTorch-Tutorial-to-Image-Captioning) and the numbers its inference code computes,
for the Go tests of captioner/convert/tutorial.

Run with Debian's python3-torch:  /usr/bin/python3 gen_tutorial.py OUT_DIR [resnet101|resnet18|coco-sized] [legacy-only]
(coco-sized writes only an untrained checkpoint of the published model's sizes, for timing;
legacy-only writes only whole_legacy.pth.tar of the checkpoints.)

The model classes below are this project's own code, written from the tutorial's published model
definition (models.py: Encoder, Attention, DecoderWithAttention) and its inference routine
(caption.py: caption_image_beam_search), with the same modules, names, shapes and arithmetic.
They live in a module named "models", so that whole pickled modules name models.Encoder and
models.DecoderWithAttention as the tutorial's checkpoints do.

OUT_DIR receives:
  whole_zip.pth.tar, whole_legacy.pth.tar  the tutorial's checkpoint dict (whole modules, a
                                           pickled Adam optimizer, scalars), both serialisations
  state_dicts.pth                          {"encoder": state_dict, "decoder": state_dict}
  decoder_only.pth, encoder.safetensors    the decoder's state_dict alone, and the ResNet's
                                           weights under torchvision's names
  WORDMAP.json                             the word map (<pad> 0, words from 1, then <unk>,
                                           <start>, <end>)
  images/*.png, *.jpg                      pictures of several sizes, one greyscale, two JPEG
  expected.json                            per image: the beam search's captions and scores at
                                           beam 1, 3 and 5, and per-word log-probabilities of
                                           given captions (teacher-forced)
"""
import json
import os
import struct
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from torch import nn

models = types.ModuleType("models")
sys.modules["models"] = models


class Encoder(nn.Module):
    """A torchvision ResNet without its pooling and classifier, then adaptive average pooling
    to a fixed grid, channels last: (B, 3, S, S) -> (B, G, G, C)."""

    def __init__(self, resnet, encoded_image_size=14):
        super().__init__()
        self.enc_image_size = encoded_image_size
        self.resnet = nn.Sequential(*list(resnet.children())[:-2])
        self.adaptive_pool = nn.AdaptiveAvgPool2d((encoded_image_size, encoded_image_size))

    def forward(self, images):
        out = self.adaptive_pool(self.resnet(images))
        return out.permute(0, 2, 3, 1)


class Attention(nn.Module):
    """Additive attention with a ReLU: alpha = softmax(full_att(relu(enc_att(a) + dec_att(h))))."""

    def __init__(self, encoder_dim, decoder_dim, attention_dim):
        super().__init__()
        self.encoder_att = nn.Linear(encoder_dim, attention_dim)
        self.decoder_att = nn.Linear(decoder_dim, attention_dim)
        self.full_att = nn.Linear(attention_dim, 1)
        self.relu = nn.ReLU()
        self.softmax = nn.Softmax(dim=1)

    def forward(self, encoder_out, decoder_hidden):
        att1 = self.encoder_att(encoder_out)
        att2 = self.decoder_att(decoder_hidden)
        att = self.full_att(self.relu(att1 + att2.unsqueeze(1))).squeeze(2)
        alpha = self.softmax(att)
        context = (encoder_out * alpha.unsqueeze(2)).sum(dim=1)
        return context, alpha


class DecoderWithAttention(nn.Module):
    def __init__(self, attention_dim, embed_dim, decoder_dim, vocab_size, encoder_dim=2048, dropout=0.5):
        super().__init__()
        self.encoder_dim, self.attention_dim, self.embed_dim = encoder_dim, attention_dim, embed_dim
        self.decoder_dim, self.vocab_size, self.dropout = decoder_dim, vocab_size, dropout
        self.attention = Attention(encoder_dim, decoder_dim, attention_dim)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.dropout = nn.Dropout(p=dropout)
        self.decode_step = nn.LSTMCell(embed_dim + encoder_dim, decoder_dim, bias=True)
        self.init_h = nn.Linear(encoder_dim, decoder_dim)
        self.init_c = nn.Linear(encoder_dim, decoder_dim)
        self.f_beta = nn.Linear(decoder_dim, encoder_dim)
        self.sigmoid = nn.Sigmoid()
        self.fc = nn.Linear(decoder_dim, vocab_size)

    def init_hidden_state(self, encoder_out):
        mean = encoder_out.mean(dim=1)
        return self.init_h(mean), self.init_c(mean)

    def step(self, encoder_out, words, h, c):
        """One step: the log-softmax over the vocabulary after reading words (B,)."""
        emb = self.embedding(words)
        context, _ = self.attention(encoder_out, h)
        context = self.sigmoid(self.f_beta(h)) * context
        h, c = self.decode_step(torch.cat([emb, context], dim=1), (h, c))
        return F.log_softmax(self.fc(h), dim=1), h, c

    def forward(self, encoder_out, captions):
        """Teacher-forced log-probabilities (B, T-1, V) of captions (B, T) with dropout."""
        b = encoder_out.size(0)
        encoder_out = encoder_out.view(b, -1, self.encoder_dim)
        h, c = self.init_hidden_state(encoder_out)
        out = []
        for t in range(captions.size(1) - 1):
            emb = self.embedding(captions[:, t])
            context, _ = self.attention(encoder_out, h)
            context = self.sigmoid(self.f_beta(h)) * context
            h, c = self.decode_step(torch.cat([emb, context], dim=1), (h, c))
            out.append(F.log_softmax(self.fc(self.dropout(h)), dim=1))
        return torch.stack(out, 1)


for cls in (Encoder, Attention, DecoderWithAttention):
    cls.__module__ = "models"
    setattr(models, cls.__name__, cls)

WORDS = ("a man woman dog cat red blue green ball on the grass rides horse runs with in field "
         "small big two plays near water car street").split()
CAPTIONS = [
    "a dog runs on the grass",
    "a man rides a horse in the field",
    "two cat plays with a red ball",
    "a woman runs near the water",
    "a big blue car on the street",
    "a small green ball in the grass",
]
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def word_map():
    wm = {w: i + 1 for i, w in enumerate(WORDS)}
    wm["<unk>"] = len(wm) + 1
    wm["<start>"] = len(wm) + 1
    wm["<end>"] = len(wm) + 1
    wm["<pad>"] = 0
    return wm


def make_images(folder, rng):
    """Pictures of several sizes with coloured blocks and noise; one greyscale, two JPEG."""
    os.makedirs(folder, exist_ok=True)
    sizes = [(256, 256), (320, 240), (200, 300), (256, 256), (180, 180), (400, 150)]
    paths = []
    for i, (w, h) in enumerate(sizes):
        a = rng.random((h, w, 3)) * 40 + rng.random(3) * 215  # a colour of its own, noise
        for _ in range(3):
            x0, y0 = rng.integers(0, w // 2), rng.integers(0, h // 2)
            a[y0:y0 + h // 2, x0:x0 + w // 2] = rng.random(3) * 255
        img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
        if i == 3:
            img = img.convert("L")
        if i in (1, 4):  # photos: JPEG, 4:2:0 (one progressive), decoded by libjpeg-turbo
            path = os.path.join(folder, "img%d.jpg" % i)
            img.save(path, quality=90, progressive=(i == 4))
        else:
            path = os.path.join(folder, "img%d.png" % i)
            img.save(path)
        paths.append(path)
    return paths


def load_image(path):
    """caption.py's preprocessing: RGB (greyscale stacked), squashed to 256x256 with Pillow's
    bilinear filter, /255, ImageNet normalisation: (1, 3, 256, 256)."""
    img = np.array(Image.open(path))
    if img.ndim == 2:
        img = np.stack([img, img, img], axis=2)
    img = np.array(Image.fromarray(img).resize((256, 256), Image.BILINEAR))
    img = torch.FloatTensor(img.transpose(2, 0, 1) / 255.)
    img = torchvision.transforms.Normalize(mean=MEAN, std=STD)(img)
    return img.unsqueeze(0)


def beam_search(encoder_out, decoder, wm, k):
    """caption_image_beam_search's loop: the beam shrinks by one each time a hypothesis ends;
    at most 51 steps; the best finished caption by total log-probability."""
    vocab_size = len(wm)
    enc_dim = encoder_out.size(3)
    encoder_out = encoder_out.view(1, -1, enc_dim).expand(k, -1, enc_dim)
    prev = torch.LongTensor([wm["<start>"]] * k)
    seqs = prev.unsqueeze(1)
    top_scores = torch.zeros(k, 1)
    done_seqs, done_scores = [], []
    h, c = decoder.init_hidden_state(encoder_out)
    step = 1
    while True:
        logp, h, c = decoder.step(encoder_out, prev, h, c)
        scores = top_scores.expand_as(logp) + logp
        if step == 1:
            top_scores, top_words = scores[0].topk(k, 0, True, True)
        else:
            top_scores, top_words = scores.view(-1).topk(k, 0, True, True)
        parent = torch.div(top_words, vocab_size, rounding_mode="floor")
        word = top_words % vocab_size
        seqs = torch.cat([seqs[parent], word.unsqueeze(1)], dim=1)
        live = [i for i, w in enumerate(word) if w != wm["<end>"]]
        ended = sorted(set(range(len(word))) - set(live))
        if ended:
            done_seqs.extend(seqs[ended].tolist())
            done_scores.extend(top_scores[ended].tolist())
        k -= len(ended)
        if k == 0:
            break
        seqs = seqs[live]
        h, c = h[parent[live]], c[parent[live]]
        encoder_out = encoder_out[parent[live]]
        top_scores = top_scores[live].unsqueeze(1)
        prev = word[live]
        if step > 50:
            break
        step += 1
    if not done_seqs:
        return None, None
    i = done_scores.index(max(done_scores))
    return done_seqs[i], done_scores[i]


def score_caption(encoder_out, decoder, wm, words):
    """Teacher-forced log-probability of each word of a caption and of <end>."""
    enc_dim = encoder_out.size(3)
    encoder_out = encoder_out.view(1, -1, enc_dim)
    ids = [wm["<start>"]] + [wm.get(w, wm["<unk>"]) for w in words] + [wm["<end>"]]
    h, c = decoder.init_hidden_state(encoder_out)
    out = []
    for t in range(len(ids) - 1):
        logp, h, c = decoder.step(encoder_out, torch.LongTensor([ids[t]]), h, c)
        out.append(logp[0, ids[t + 1]].item())
    return out


def train_briefly(encoder, decoder, wm, paths, steps):
    """Fits the decoder to one caption per image for a few steps (frozen encoder, Adam)."""
    with torch.no_grad():
        feats = torch.cat([encoder(load_image(p)) for p in paths])
    t = max(len(c.split()) for c in CAPTIONS) + 2
    caps = torch.zeros(len(paths), t, dtype=torch.long)
    for i, cap in enumerate(CAPTIONS[:len(paths)]):
        ids = [wm["<start>"]] + [wm[w] for w in cap.split()] + [wm["<end>"]]
        caps[i, :len(ids)] = torch.LongTensor(ids)
    opt = torch.optim.Adam(decoder.parameters(), lr=3e-3)
    decoder.train()
    for _ in range(steps):
        logp = decoder(feats, caps)
        mask = caps[:, 1:] != 0
        loss = -(logp.gather(2, caps[:, 1:].unsqueeze(2)).squeeze(2) * mask).sum() / mask.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    decoder.eval()
    return opt


def write_safetensors(path, tensors):
    """A minimal safetensors writer (F32 only): 8-byte header length, JSON header, data."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().float().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main(out, arch, legacy_only=False):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(3)
    rng = np.random.default_rng(3)
    resnet = getattr(torchvision.models, arch)()
    with torch.no_grad():  # non-trivial batch-norm statistics and affine parameters
        for m in resnet.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.0)
                m.bias.uniform_(-0.1, 0.1)
                m.num_batches_tracked.fill_(1000)
    encoder = Encoder(resnet).eval()
    wm = word_map()
    enc_dim = 2048 if arch in ("resnet50", "resnet101", "resnet152") else 512
    decoder = DecoderWithAttention(attention_dim=48, embed_dim=32, decoder_dim=64, vocab_size=len(wm),
                                   encoder_dim=enc_dim, dropout=0.5)
    paths = make_images(os.path.join(out, "images"), rng)
    optimizer = train_briefly(encoder, decoder, wm, paths, steps=300)

    state = {"epoch": 7, "epochs_since_improvement": 2, "bleu-4": 0.2411,
             "encoder": encoder, "decoder": decoder, "encoder_optimizer": None, "decoder_optimizer": optimizer}
    torch.save(state, os.path.join(out, "whole_legacy.pth.tar"), _use_new_zipfile_serialization=False)
    if not legacy_only:
        torch.save(state, os.path.join(out, "whole_zip.pth.tar"))
        torch.save({"encoder": encoder.state_dict(), "decoder": decoder.state_dict()}, os.path.join(out, "state_dicts.pth"))
        torch.save(decoder.state_dict(), os.path.join(out, "decoder_only.pth"))
        write_safetensors(os.path.join(out, "encoder.safetensors"),
                          {k: v for k, v in resnet.state_dict().items() if not k.endswith("num_batches_tracked")})
    with open(os.path.join(out, "WORDMAP.json"), "w") as f:
        json.dump(wm, f)

    rev = {v: k for k, v in wm.items()}
    expected = {"arch": arch, "images": {}}
    with torch.no_grad():
        for i, p in enumerate(paths):
            enc = encoder(load_image(p))
            e = {"beams": {}, "scores": []}
            for k in (1, 3, 5):
                seq, score = beam_search(enc, decoder, wm, k)
                if seq is None:
                    e["beams"][str(k)] = None
                    continue
                words = [rev[j] for j in seq if j not in (wm["<start>"], wm["<end>"], wm["<pad>"])]
                e["beams"][str(k)] = {"words": words, "score": score, "finished": seq[-1] == wm["<end>"]}
            for cap in (CAPTIONS[i % len(CAPTIONS)], CAPTIONS[(i + 1) % len(CAPTIONS)], "a dog with zebra"):
                e["scores"].append({"caption": cap, "log_probs": score_caption(enc, decoder, wm, cap.split())})
            expected["images"][os.path.basename(p)] = e
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)


def coco_sized(out):
    """A checkpoint of the published COCO model's sizes (ResNet-101, 9,490 words, 512-wide
    embedding, attention and LSTM, an Adam state for the decoder), legacy serialisation, for
    measuring the conversion (docs/performance.md); untrained."""
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(1)
    wm = {"w%d" % i: i + 1 for i in range(9486)}
    for s in ("<unk>", "<start>", "<end>"):
        wm[s] = len(wm) + 1
    wm["<pad>"] = 0
    encoder = Encoder(torchvision.models.resnet101()).eval()
    decoder = DecoderWithAttention(512, 512, 512, len(wm))
    optimizer = torch.optim.Adam(decoder.parameters(), lr=4e-4)
    decoder(torch.randn(2, 196, 2048), torch.randint(1, len(wm), (2, 5))).sum().backward()
    optimizer.step()
    state = {"epoch": 5, "epochs_since_improvement": 0, "bleu-4": 0.333, "encoder": encoder, "decoder": decoder,
             "encoder_optimizer": None, "decoder_optimizer": optimizer}
    torch.save(state, os.path.join(out, "coco_sized.pth.tar"), _use_new_zipfile_serialization=False)
    with open(os.path.join(out, "WORDMAP_coco_sized.json"), "w") as f:
        json.dump(wm, f)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[2] == "coco-sized":
        coco_sized(sys.argv[1])
    else:
        main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "resnet101", "legacy-only" in sys.argv[3:])
