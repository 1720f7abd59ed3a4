/* Flash primitives for the STM32duino core (NUCLEO-F446RE, NUCLEO-L552ZE-Q) through the ST HAL. */
#if defined(ARDUINO_ARCH_STM32)

#include <Arduino.h>
#include <string.h>

#include "model_slot.h"

int flash_init(void) { return 0; }

#if defined(STM32F4xx)

/* STM32F446RE: sectors 0-3 of 16 KB, 4 of 64 KB, 5-7 of 128 KB from 0x08000000. */
static uint32_t sector_of(uint32_t addr) {
    uint32_t off = addr - FLASH_BASE;
    if (off < 0x10000u) {
        return off / 0x4000u;
    }
    if (off < 0x20000u) {
        return 4u;
    }
    return 5u + (off - 0x20000u) / 0x20000u;
}

uint32_t flash_program_unit(void) { return 4u; }

int flash_erase_range(uint32_t addr, uint32_t bytes) {
    FLASH_EraseInitTypeDef erase = {};
    uint32_t bad_sector = 0;
    erase.TypeErase = FLASH_TYPEERASE_SECTORS;
    erase.VoltageRange = FLASH_VOLTAGE_RANGE_3;
    erase.Sector = sector_of(addr);
    erase.NbSectors = sector_of(addr + bytes - 1u) - erase.Sector + 1u;
    HAL_FLASH_Unlock();
    HAL_StatusTypeDef status = HAL_FLASHEx_Erase(&erase, &bad_sector);
    HAL_FLASH_Lock();
    return status == HAL_OK ? 0 : -1;
}

int flash_program(uint32_t addr, const uint8_t *data, uint32_t bytes) {
    HAL_FLASH_Unlock();
    HAL_StatusTypeDef status = HAL_OK;
    for (uint32_t i = 0; i < bytes && status == HAL_OK; i += 4u) {
        uint32_t word;
        memcpy(&word, data + i, 4u);
        status = HAL_FLASH_Program(FLASH_TYPEPROGRAM_WORD, addr + i, word);
    }
    HAL_FLASH_Lock();
    return status == HAL_OK ? 0 : -1;
}

#elif defined(STM32L5xx)

/* STM32L552ZE, dual-bank mode (the factory default): 2 KB pages, bank 2 from FLASH_BASE + 256 KB. */
static const uint32_t kBank2 = FLASH_BASE + 0x40000u;

uint32_t flash_program_unit(void) { return 8u; }

int flash_erase_range(uint32_t addr, uint32_t bytes) {
    FLASH_EraseInitTypeDef erase = {};
    uint32_t bad_page = 0;
    if (addr < kBank2) {
        return -1; /* the slot lives in bank 2, away from the firmware */
    }
    erase.TypeErase = FLASH_TYPEERASE_PAGES;
    erase.Banks = FLASH_BANK_2;
    erase.Page = (addr - kBank2) / FLASH_PAGE_SIZE;
    erase.NbPages = (bytes + FLASH_PAGE_SIZE - 1u) / FLASH_PAGE_SIZE;
    HAL_FLASH_Unlock();
    HAL_StatusTypeDef status = HAL_FLASHEx_Erase(&erase, &bad_page);
    HAL_FLASH_Lock();
    return status == HAL_OK ? 0 : -1;
}

int flash_program(uint32_t addr, const uint8_t *data, uint32_t bytes) {
    HAL_FLASH_Unlock();
    HAL_StatusTypeDef status = HAL_OK;
    for (uint32_t i = 0; i < bytes && status == HAL_OK; i += 8u) {
        uint64_t dword;
        memcpy(&dword, data + i, 8u);
        status = HAL_FLASH_Program(FLASH_TYPEPROGRAM_DOUBLEWORD, addr + i, dword);
    }
    HAL_FLASH_Lock();
    return status == HAL_OK ? 0 : -1;
}

#else
#error "model_slot_stm32.cpp supports STM32F4 and STM32L5 only; add the flash layout of your part"
#endif

#endif /* ARDUINO_ARCH_STM32 */
