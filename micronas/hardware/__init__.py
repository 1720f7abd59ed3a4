"""The hardware path: the serial protocol (hardware/protocol.md), the `Device` interface with
`SerialDevice` (a board or the virtual board) and `LocalTflmDevice` (in-process tflite-micro),
`open_device(cfg.mcu)` (the device an MCU config names, identity-checked), the virtual board
(`python -m micronas.hardware.virtual_board`) and `python -m micronas.hardware.measure MODEL.tflite`.

Submodules are imported on demand, so that `protocol` and `serial_device` do not import tflite-micro.
"""
