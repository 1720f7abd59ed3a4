/* Model slot primitives on QEMU (model_slot.h): the slot is code RAM above the firmware image, where a
 * board would have flash; "programming" is a copy. Also Serial and main(), the Arduino core's part. */
#include <Arduino.h>
#include <string.h>

#include "model_slot.h"

UartSerial Serial;

int flash_init(void) { return 0; }

uint32_t flash_program_unit(void) { return 16u; }

int flash_erase_range(uint32_t addr, uint32_t bytes) {
    memset(reinterpret_cast<void *>(addr), 0xFF, bytes);
    return 0;
}

int flash_program(uint32_t addr, const uint8_t *data, uint32_t bytes) {
    memcpy(reinterpret_cast<void *>(addr), data, bytes);
    return 0;
}

int main() {
    setup();
    for (;;) {
        loop();
    }
}
