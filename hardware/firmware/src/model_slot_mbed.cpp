/* Flash primitives for the Arduino Mbed OS cores (Portenta H7, Nicla Sense ME) through mbed::FlashIAP. */
#if defined(ARDUINO_ARCH_MBED)

#include <Arduino.h>
#include <FlashIAP.h>

#include "model_slot.h"

static mbed::FlashIAP flash;
static bool flash_ready = false;

static void invalidate_dcache(void) {
#if defined(__DCACHE_PRESENT) && (__DCACHE_PRESENT == 1U)
    SCB_CleanInvalidateDCache(); /* Cortex-M7: read back what the flash holds, not stale cache lines */
#endif
}

int flash_init(void) {
    if (!flash_ready) {
        if (flash.init() != 0) {
            return -1;
        }
        flash_ready = true;
    }
    return 0;
}

uint32_t flash_program_unit(void) { return flash.get_page_size(); }

int flash_erase_range(uint32_t addr, uint32_t bytes) {
    uint32_t end = addr + bytes;
    while (addr < end) {
        uint32_t sector = flash.get_sector_size(addr);
        if (flash.erase(addr, sector) != 0) {
            return -1;
        }
        addr += sector;
    }
    invalidate_dcache();
    return 0;
}

int flash_program(uint32_t addr, const uint8_t *data, uint32_t bytes) {
    int status = flash.program(data, addr, bytes);
    invalidate_dcache();
    return status == 0 ? 0 : -1;
}

#endif /* ARDUINO_ARCH_MBED */
