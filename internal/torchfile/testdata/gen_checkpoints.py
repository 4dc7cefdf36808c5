"""Writes small torch.save files for internal/torchfile's tests, and what they hold.

Run with Debian's python3-torch: /usr/bin/python3 gen_checkpoints.py OUT_DIR
The checkpoint imitates the layout of a training script that saves whole modules beside an
optimizer and scalars (as the widely used PyTorch captioning tutorial does): module classes are
defined in a module named "models". It is written in both serialisations (zip, torch >= 1.6, and
the legacy one), plus a plain state_dict file; expected.json lists every tensor by its dotted
name with its shape and values.
"""
import json
import os
import sys
import types

import torch
from torch import nn

# Classes importable as models.X, so that pickled whole modules name "models.Encoder".
models = types.ModuleType("models")
sys.modules["models"] = models


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d((2, 2))

    def forward(self, x):
        return self.pool(self.net(x))


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(7, 5)
        self.cell = nn.LSTMCell(5 + 4, 6, bias=True)
        self.fc = nn.Linear(6, 7)
        self.register_buffer("steps", torch.arange(3, dtype=torch.int64))


Encoder.__module__ = Decoder.__module__ = "models"
models.Encoder, models.Decoder = Encoder, Decoder


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(7)
    enc, dec = Encoder(), Decoder()
    with torch.no_grad():  # non-trivial batch-norm statistics
        bn = enc.net[1]
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.num_batches_tracked.fill_(11)
    optimizer = torch.optim.Adam(dec.parameters(), lr=4e-4)
    dec.fc(torch.randn(2, 6)).sum().backward()
    optimizer.step()
    state = {"epoch": 3, "epochs_since_improvement": 1, "bleu-4": 0.25,
             "encoder": enc, "decoder": dec, "encoder_optimizer": None, "decoder_optimizer": optimizer}
    torch.save(state, os.path.join(out, "whole_zip.pth.tar"))
    torch.save(state, os.path.join(out, "whole_legacy.pth.tar"), _use_new_zipfile_serialization=False)
    torch.save({"encoder": enc.state_dict(), "decoder": dec.state_dict()}, os.path.join(out, "state_dicts.pth"))
    # A transposed (non-contiguous) view, sharing storage with its base.
    base = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    torch.save({"t": base.t(), "base": base}, os.path.join(out, "views.pth"), _use_new_zipfile_serialization=False)

    expected = {}
    for prefix, module in (("encoder", enc), ("decoder", dec)):
        for name, t in module.state_dict().items():
            expected[prefix + "." + name] = {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
                                             "values": t.flatten().tolist()}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main(sys.argv[1])
