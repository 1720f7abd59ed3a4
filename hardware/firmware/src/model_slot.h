/* The model slot: a reserved flash region the uploaded .tflite is written to and run from
 * (docs/method.md §7.3: weights stay in flash, as in a deployed model). Chunks of any length are staged and
 * programmed in the flash's program unit. Region: MICRONAS_SLOT_ADDR, MICRONAS_SLOT_BYTES (platformio.ini). */
#ifndef MICRONAS_MODEL_SLOT_H
#define MICRONAS_MODEL_SLOT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

uint32_t slot_capacity_bytes(void);

/* board_backend hooks (board.h): 0 or PROTO_E_FLASH with one sentence in msg. */
int slot_erase(void *ctx, uint32_t model_bytes, char *msg);
int slot_write(void *ctx, uint32_t offset, const uint8_t *data, uint16_t len, char *msg);
int slot_finish(void *ctx, const uint8_t **image, char *msg);

/* Platform primitives (model_slot_stm32.cpp or model_slot_mbed.cpp). */
int flash_init(void);
uint32_t flash_program_unit(void); /* bytes per program operation, a power of two, at most 256 */
int flash_erase_range(uint32_t addr, uint32_t bytes);
int flash_program(uint32_t addr, const uint8_t *data, uint32_t bytes); /* bytes: a multiple of the unit */

#ifdef __cplusplus
}
#endif

#endif
