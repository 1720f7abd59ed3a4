/* Model slot staging: chunks of any length in, whole program units out (see model_slot.h). */
#include "model_slot.h"

#include <string.h>

#include "protocol.h"

static uint8_t pending[256];
static uint32_t pending_bytes;
static uint32_t programmed_bytes;

uint32_t slot_capacity_bytes(void) { return MICRONAS_SLOT_BYTES; }

static int fail(char *msg, const char *text) {
    strncpy(msg, text, PROTO_MAX_MESSAGE);
    msg[PROTO_MAX_MESSAGE] = '\0';
    return PROTO_E_FLASH;
}

int slot_erase(void *ctx, uint32_t model_bytes, char *msg) {
    (void)ctx;
    pending_bytes = 0;
    programmed_bytes = 0;
    if (flash_init() != 0) {
        return fail(msg, "the flash controller could not be initialised");
    }
    /* erase only what the model needs, rounded up inside flash_erase_range to whole pages or sectors */
    if (flash_erase_range(MICRONAS_SLOT_ADDR, model_bytes) != 0) {
        return fail(msg, "erasing the model slot failed");
    }
    return 0;
}

static int program_pending(char *msg) {
    if (flash_program(MICRONAS_SLOT_ADDR + programmed_bytes, pending, pending_bytes) != 0) {
        return fail(msg, "programming the model slot failed");
    }
    programmed_bytes += pending_bytes;
    pending_bytes = 0;
    return 0;
}

int slot_write(void *ctx, uint32_t offset, const uint8_t *data, uint16_t len, char *msg) {
    (void)ctx;
    (void)offset; /* board.c guarantees chunks arrive in order */
    uint32_t unit = flash_program_unit();
    while (len > 0) {
        uint32_t n = unit - pending_bytes;
        if (n > len) {
            n = len;
        }
        memcpy(pending + pending_bytes, data, n);
        pending_bytes += n;
        data += n;
        len = (uint16_t)(len - n);
        if (pending_bytes == unit) {
            int code = program_pending(msg);
            if (code != 0) {
                return code;
            }
        }
    }
    return 0;
}

int slot_finish(void *ctx, const uint8_t **image, char *msg) {
    (void)ctx;
    uint32_t unit = flash_program_unit();
    if (pending_bytes > 0) {
        memset(pending + pending_bytes, 0xFF, unit - pending_bytes);
        pending_bytes = unit;
        int code = program_pending(msg);
        if (code != 0) {
            return code;
        }
    }
    *image = (const uint8_t *)MICRONAS_SLOT_ADDR; /* memory-mapped: board.c reads it back for the CRC */
    return 0;
}
