"""The hardware path: the serial protocol (hardware/protocol.md), the `Device` interface with
`SerialDevice` (a board or the virtual board) and `LocalTflmDevice` (in-process tflite-micro), and
the virtual board (`python -m micronas.hardware.virtual_board`).

Submodules are imported on demand, so that `protocol` and `serial_device` do not import tflite-micro.
"""
