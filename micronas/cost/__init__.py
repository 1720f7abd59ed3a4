"""Cost models: latency look-up tables, the fallback predictor, the TFLM arena model, expected costs.

Public API: `CostModel.from_mcu(cfg.mcu)` (model), `ExpectedCosts(space, cost_model)(probs)` (expected),
`enumerate_ops(space)` (enumerate), `extreme(space, cost_model, metric, cheapest)` (extremes),
`LookupTable`/`read_lut` (lut), `LatencyPredictor` (predictor), `estimate_arena`/`tflm_build` (memory),
`op_graph` (graph), `FlashModel` (flash). Entry points: `python -m micronas.cost.import_records`,
`python -m micronas.cost.calibrate`, `python -m micronas.cost.arena_fit`; what they fit is stored in the
user config directory (`board_settings`). The profiler is `micronas.profiling`.
"""
