// Package captioner holds the Show, Attend and Tell model as GoMLX graphs — encoders, soft
// attention, the LSTM decoder, the loss and decoding — and the backend selection that runs them
// on the pure-Go backend or on XLA (CUDA through PJRT).
package captioner
