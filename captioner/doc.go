// Package captioner holds the captioning model as GoMLX graphs and everything that trains and
// runs it, one file (group) per part:
//
//   - encoders: encoder.go (ResNet, TinyEncoder, EncodeGrid, Encode), encoder_conv.go
//     (convolution per backend), encoder_weights.go (pretrained weights, hf: references);
//   - decoders: decoder.go (the Decoder interface, NewDecoder, CaptionLoss), decoder_lstm.go
//     (Show, Attend and Tell), decoder_transformer.go (pre-norm Transformer), dense.go (their
//     dense layers: layers.Dense with a faster bias gradient); precision.go (bfloat16 compute
//     with float32 variables, Config.DType);
//   - decoding: decode.go (Greedy, BeamSearch), decode_loop.go (greedy's loop in one graph),
//     decode_beam_loop.go (beam search's loop in one graph),
//     model.go (Model and its compiled graphs),
//     caption.go (images and features to captions), visualize.go (attention pictures);
//   - training: train.go (TrainOptions, Train and its stages), train_data.go, train_model.go,
//     train_epoch.go, train_options.go, optimizer.go; the self-critical stage: scst.go (SCSTOptions,
//     the stage, ForkRun), sample.go (SampleCaptions in one graph, DrawWords, SCSTLoss);
//   - shapes object accuracy: objects.go;
//   - features: features.go (ExtractFeatures, Features files), featurecache.go;
//   - checkpoints: checkpoint.go (model folders), config.go (Config), evaluate.go (OpenModel,
//     EvaluateSplit);
//   - backend.go: the pure-Go backend or XLA (CUDA through PJRT).
//
// docs/architecture.md shows how data flows through them.
package captioner
