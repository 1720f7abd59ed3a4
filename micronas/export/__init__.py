"""Export: Keras rebuild with BN folded, full-int8 TFLite conversion, flatbuffer inspection, the C
hand-off and the tflite-micro runner.

Submodules are imported on demand so that, e.g., `micronas.export.tflm` does not import TensorFlow:
`quantize` (input/output quantisation), `flatbuffer` (operators and tensors of a .tflite),
`tflm` (`TflmRunner`), `c_files` (`model_data.h`/`.cc`, `model_example.cc`), `convert`
(`to_int8_tflite`), `keras_model` (`to_keras`), `pipeline` (`export_network`: writes `model_int8.tflite` and `model_data.h`/`.cc`).
"""
