/* The part of the Arduino API that ../src/main.cpp uses, on QEMU's MPS2 boards (platform.h). */
#ifndef MICRONAS_QEMU_ARDUINO_H
#define MICRONAS_QEMU_ARDUINO_H

#include <stddef.h>
#include <stdint.h>

#include CMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE /* DWT, CoreDebug, __disable_irq, SystemCoreClock */

#include "platform.h"

class UartSerial {
  public:
    void begin(unsigned long baud) {
        (void)baud; /* a pty has no baud rate */
        uart_init();
    }
    size_t write(const uint8_t *data, size_t len) {
        uart_write(data, len);
        return len;
    }
    void flush() {}
    int available() { return uart_available(); }
    int read() { return uart_read(); }
};

extern UartSerial Serial;

inline uint32_t millis() { return platform_millis(); }

void setup();
void loop();

#endif
