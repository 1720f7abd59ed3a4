"""Cost models: latency look-up tables, the fallback predictor, the TFLM arena model, expected costs."""
