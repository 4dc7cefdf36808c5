#!/usr/bin/env python3
"""PyTorch reference of attncap's model, for `go run ./scripts/bench -compare`.

The same architecture and maths as captioner/decoder.go (additive attention with tanh, gate
β = σ(W h), LSTM over [embedding; β⊙context], initial state from the mean feature, dropout
before the output layer, masked cross-entropy + λ·mean (1 − Σ_t α)²), trained with Adam and
gradient clipping at global norm 5; and torchvision's ResNet-50 trunk (eval mode).

    python3 sat.py resnet50 --batch 16 --reps 5 [--device cpu|cuda]
    python3 sat.py decoder --batch 32 --regions 49 --channels 2048 --vocab 3000 --steps 20 --reps 5
    python3 sat.py transformer --batch 32            # train step of the Transformer decoder
    python3 sat.py transformer-greedy --batch 32     # greedy decoding, 20 words, eval mode

The Transformer is captioner/decoder_transformer.go's at its ResNet defaults: d = 512, 2
pre-norm layers (nn.TransformerDecoderLayer(norm_first=True), 8 heads, feed-forward 2048, ReLU,
dropout 0.1; --embed, --layers, --heads, --ff change them),
learned word and region positions, final layer norm, output layer; nn.TransformerDecoder has no
key/value cache, so greedy decoding runs the whole prefix at every step, as its users do.

Prints one JSON object: {"what", "batch", "device", "times": [seconds per repetition], ...}.
Warm-up repetitions are run first and not reported.
"""
import argparse
import json
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Decoder(nn.Module):
    def __init__(self, channels, vocab, embed=512, hidden=512, attention=512, dropout=0.5):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.att_enc = nn.Linear(channels, attention)
        self.att_dec = nn.Linear(hidden, attention)
        self.att_score = nn.Linear(attention, 1)
        self.gate = nn.Linear(hidden, channels)
        self.lstm = nn.LSTMCell(embed + channels, hidden)
        self.init_h = nn.Linear(channels, hidden)
        self.init_c = nn.Linear(channels, hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, regions, captions):
        mean = regions.mean(1)
        h, c = self.init_h(mean), self.init_c(mean)
        projected = self.att_enc(regions)
        emb = self.embedding(captions)
        logits, alphas = [], []
        for t in range(captions.shape[1] - 1):
            scores = self.att_score(torch.tanh(projected + self.att_dec(h).unsqueeze(1))).squeeze(-1)
            alpha = F.softmax(scores, -1)
            context = (alpha.unsqueeze(-1) * regions).sum(1)
            beta = torch.sigmoid(self.gate(h))
            h, c = self.lstm(torch.cat([emb[:, t], beta * context], -1), (h, c))
            logits.append(self.out(self.dropout(h)))
            alphas.append(alpha)
        return torch.stack(logits, 1), torch.stack(alphas, 1)


class TransformerCaptioner(nn.Module):
    def __init__(self, channels, vocab, regions, d=512, layers=3, heads=8, ff=2048, dropout=0.1, max_len=21):
        super().__init__()
        self.embedding = nn.Embedding(vocab, d)
        self.positions = nn.Parameter(torch.randn(max_len, d) * 0.02)
        self.memory = nn.Linear(channels, d)
        self.region_positions = nn.Parameter(torch.randn(regions, d) * 0.02)
        layer = nn.TransformerDecoderLayer(d, heads, ff, dropout, batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, layers, norm=nn.LayerNorm(d))
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(d, vocab)

    def forward(self, regions, inputs):
        t = inputs.shape[1]
        x = self.dropout(self.embedding(inputs) + self.positions[:t])
        memory = self.memory(regions) + self.region_positions
        mask = nn.Transformer.generate_square_subsequent_mask(t).to(inputs.device)
        return self.out(self.decoder(x, memory, tgt_mask=mask))


def masked_ce(captions, logits):
    targets = captions[:, 1:]
    mask = (targets != 0).float()
    logp = F.log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return -(logp * mask).sum() / mask.sum().clamp(min=1)


def caption_loss(captions, logits, alphas, reg=1.0):
    targets = captions[:, 1:]
    mask = (targets != 0).float()
    logp = F.log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    ce = -(logp * mask).sum() / mask.sum().clamp(min=1)
    attention = (alphas * mask.unsqueeze(-1)).sum(1)
    return ce + reg * ((1 - attention) ** 2).mean()


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["resnet50", "decoder", "transformer", "transformer-greedy"])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--regions", type=int, default=49)
    ap.add_argument("--channels", type=int, default=2048)
    ap.add_argument("--vocab", type=int, default=3000)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--embed", type=int, default=512)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--ff", type=int, default=2048)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = args.device
    if args.what == "resnet50":
        import torchvision
        net = torchvision.models.resnet50(weights=None)
        trunk = nn.Sequential(*list(net.children())[:-2]).to(dev).eval()
        x = torch.randn(args.batch, 3, 224, 224, device=dev)

        def run():
            with torch.no_grad():
                trunk(x)
    elif args.what.startswith("transformer"):
        model = TransformerCaptioner(args.channels, args.vocab, args.regions, d=args.embed, layers=args.layers,
                                     heads=args.heads, ff=args.ff, max_len=args.steps + 1).to(dev)
        regions = torch.randn(args.batch, args.regions, args.channels, device=dev)
        captions = torch.randint(4, args.vocab, (args.batch, args.steps + 1), device=dev)
        captions[:, 0] = 1
        if args.what == "transformer":
            model.train()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)

            def run():
                opt.zero_grad(set_to_none=True)
                loss = masked_ce(captions, model(regions, captions[:, :-1]))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                opt.step()
        else:
            model.eval()

            def run():
                with torch.no_grad():
                    words = captions[:, :1]
                    for _ in range(args.steps):
                        nxt = model(regions, words)[:, -1].argmax(-1, keepdim=True)
                        words = torch.cat([words, nxt], 1)
    else:
        model = Decoder(args.channels, args.vocab).to(dev).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        regions = torch.randn(args.batch, args.regions, args.channels, device=dev)
        captions = torch.randint(4, args.vocab, (args.batch, args.steps + 1), device=dev)
        captions[:, 0] = 1

        def run():
            opt.zero_grad(set_to_none=True)
            logits, alphas = model(regions, captions)
            loss = caption_loss(captions, logits, alphas)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
    for _ in range(args.warmup):
        run()
    sync(dev)
    times = []
    for _ in range(args.reps):
        start = time.perf_counter()
        run()
        sync(dev)
        times.append(time.perf_counter() - start)
    info = {"what": args.what, "batch": args.batch, "device": dev, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "times": times}
    if dev == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    print(json.dumps(info))


if __name__ == "__main__":
    main()
