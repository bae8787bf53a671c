/* The step arena: a bump allocator over a list of large blocks, reset at every step.
 *
 * After the first step the blocks are large enough and no step allocates from the system again;
 * the peak over the arena's life is what `serc` reports as activation memory.
 */
#ifndef SERC_ARENA_H
#define SERC_ARENA_H

#include <stddef.h>

typedef struct ArenaBlock ArenaBlock;

typedef struct Arena {
    ArenaBlock *head;    /* first block */
    ArenaBlock *cur;     /* block being filled */
    size_t used;         /* bytes handed out since the last reset */
    size_t peak;         /* largest `used` seen */
    size_t reserved;     /* bytes held from the system */
    size_t block_size;   /* minimum size of a new block */
    size_t system_allocs; /* blocks taken from the system (for the "no allocation in the step" test) */
    int poison;          /* fill every arena_alloc with 0xFF bytes (NaN as f32): tests catch unwritten outputs */
} Arena;

void arena_init(Arena *a, size_t block_size);
void arena_free(Arena *a);
/* 64-byte aligned, uninitialised. */
void *arena_alloc(Arena *a, size_t n);
void *arena_calloc(Arena *a, size_t n);
/* Forget every allocation; blocks are kept for the next step. */
void arena_reset(Arena *a);

#endif
