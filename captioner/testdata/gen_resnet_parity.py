#!/usr/bin/env python3
"""Writes a torchvision ResNet with seeded random weights and its layer4 outputs, for attncap's
parity test (captioner/parity_test.go) and for checking `scripts/features` by hand.

    python3 gen_resnet_parity.py OUT_DIR [--arch resnet50] [--sizes 224,448] [--batch 2] [--seed 0]

Writes OUT_DIR/ARCH.safetensors (the state_dict under torchvision's key names, fc and
num_batches_tracked included, as a real checkpoint has them) and OUT_DIR/ARCH_SIZE.safetensors
holding "images" (normalised, NHWC, float32) and "expected" (layer4 output, NHWC).
Batch norms get non-trivial statistics so that folding them is really tested.
Needs only torch and torchvision (Debian: python3-torch python3-torchvision); safetensors files
are written by hand so that no other package is needed.
"""
import argparse
import json
import os
import struct

import torch
import torchvision


def write_safetensors(path, tensors, metadata=None):
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    dtypes = {torch.float32: "F32", torch.int64: "I64"}
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--sizes", default="224,448")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--png", action="store_true",
                    help="also write random PNG images ARCH_SIZE_I.png and the layer4 output of those "
                         "images after ToTensor+Normalize(ImageNet) as ARCH_SIZE_png.safetensors")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)
    net = getattr(torchvision.models, args.arch)(weights=None)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    net.eval()
    write_safetensors(os.path.join(args.out, args.arch + ".safetensors"), net.state_dict(),
                      {"format": "pt", "generator": "attncap gen_resnet_parity.py", "seed": str(args.seed)})
    trunk = torch.nn.Sequential(*list(net.children())[:-2])  # up to layer4, before avgpool/fc
    for size in [int(s) for s in args.sizes.split(",")]:
        images = torch.randn(args.batch, 3, size, size)
        with torch.no_grad():
            grid = trunk(images)
        write_safetensors(os.path.join(args.out, "%s_%d.safetensors" % (args.arch, size)), {
            "images": images.permute(0, 2, 3, 1),
            "expected": grid.permute(0, 2, 3, 1),
        })
        if args.png:
            from PIL import Image
            pixels = torch.randint(0, 256, (args.batch, size, size, 3), dtype=torch.uint8)
            names = []
            for i in range(args.batch):
                name = "%s_%d_%d.png" % (args.arch, size, i)
                Image.fromarray(pixels[i].numpy()).save(os.path.join(args.out, name))
                names.append(name)
            mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
            std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
            x = (pixels.permute(0, 3, 1, 2).float() / 255 - mean) / std
            with torch.no_grad():
                grid = trunk(x)
            write_safetensors(os.path.join(args.out, "%s_%d_png.safetensors" % (args.arch, size)),
                              {"expected": grid.permute(0, 2, 3, 1)}, {"images": json.dumps(names)})


if __name__ == "__main__":
    main()
