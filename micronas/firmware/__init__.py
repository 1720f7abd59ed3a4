"""The firmware this project owns: the pinned TFLM, CMSIS-NN and CMSIS sources (`sources`), the build for
QEMU's Cortex-M33/M4/M7 boards with Debian's arm-none-eabi toolchain (`build`), and the QEMU board that
runs it behind the serial protocol (`micronas.hardware.qemu`)."""
