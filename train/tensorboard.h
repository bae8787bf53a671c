/* TensorBoard event files: scalar summaries written in TensorBoard's record format, with no
 * protobuf or TensorFlow dependency (docs/reports.md says why).
 *
 * tb_open creates "<dir>/events.out.tfevents.<unix seconds>.<hostname>.serc" (the seconds are bumped
 * until the name is new, so a resumed run in the same second still gets its own file; TensorBoard
 * merges every events file in a directory). Each record is
 *   uint64 length (LE) | uint32 masked CRC-32C of those 8 bytes | Event protobuf | uint32 masked CRC-32C of it
 * with masked crc = ((crc >> 15) | (crc << 17)) + 0xa282ead8. The first Event carries file_version
 * "brain.Event:2"; every tb_scalar call writes one Event{wall_time, step, summary{value{tag, simple_value}}}.
 * wall_time comes from the real-time clock: nothing reproducible should depend on it.
 *
 * All functions accept a NULL writer and then do nothing (tb_scalar returns 0). */
#ifndef SERC_TENSORBOARD_H
#define SERC_TENSORBOARD_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct TbWriter TbWriter;

/* Creates a new events file in dir (which must exist). NULL with err set on failure. */
TbWriter *tb_open(const char *dir, SercErr *err);

/* Appends one scalar (stored as float32, as TensorBoard's simple_value is). 0, or -1 on a write error
 * (remembered: see tb_failed). */
int tb_scalar(TbWriter *w, const char *tag, int64_t step, double value);

/* tb_scalar with a printf-style tag: tb_scalarf(w, step, v, "train/loss_%s", name). */
int tb_scalarf(TbWriter *w, int64_t step, double value, const char *tag_fmt, ...) SERC_PRINTF(4, 5);

/* Pushes written records to the file, so that a running TensorBoard sees them. */
void tb_flush(TbWriter *w);

/* Flushes, closes and frees. */
void tb_close(TbWriter *w);

/* The events file's path (owned by w). */
const char *tb_path(const TbWriter *w);

/* 1 when a write has failed since tb_open. */
int tb_failed(const TbWriter *w);

/* ---- the encoding, exposed for the tests ---- */

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF). */
uint32_t tb_crc32c(const void *data, size_t n);

/* The masked CRC of the TFRecord format. */
uint32_t tb_masked_crc(uint32_t crc);

/* Writes v as a base-128 varint into out (room for 10 bytes); returns the byte count. */
size_t tb_varint(uint8_t *out, uint64_t v);

/* Serialises Event{wall_time, step, summary{value{tag, simple_value}}} into out (cap bytes);
 * tag NULL writes Event{wall_time, file_version: "brain.Event:2"} instead. Returns the length, or
 * 0 when cap is too small. */
size_t tb_encode_event(uint8_t *out, size_t cap, double wall_time, int64_t step, const char *tag, float value);

#endif
