// Package captioner is the captioning model: its Config (saved as config.json), the Model
// (configuration, vocabulary, variables and their compiled graphs on a backend), model folders
// (Save, LoadModel, OpenModel, hf: references), encoder features (ExtractFeatures, Features),
// the backend (NewBackend) and NewDecoder, the one place that builds a decoder from the config.
//
// The parts live in packages by concern, bottom to top (each imports only those before it):
//
//   - metrics: BLEU, METEOR, ROUGE-L, CIDEr-D, object accuracy; viz: pictures; runfolder: the
//     layout of a training run's folder;
//   - layers: the dense layer and mixed-precision helpers both encoders and decoders use;
//   - encoder: the ResNet family and the tiny CNN, convolution per backend, pretrained weights;
//   - decoder: the Decoder interface and the losses; decoder/lstm (Show, Attend and Tell) and
//     decoder/transformer implement it;
//   - captioner (this package): Config, Model, model folders, the decoders (decoders.go);
//   - decode: greedy and beam search (host loop or one graph), sampling, captioning files;
//   - train: the stage driver with the cross-entropy and self-critical stages, optimizer,
//     schedules, feature cache, scripts/train's flags.
//
// docs/architecture.md shows how data flows through them and how to add a decoder.
package captioner
