// The blocks still allocated, by address: what the reachability scan replays a capture into, and what the
// aggregate mode keeps while the program runs (see recorder.c). Open addressing with linear probing, in memory the
// hook maps for itself (never the program's malloc), grown by doubling; removal shifts the run back, so there are
// no tombstones.
#define _GNU_SOURCE
#include "hook.h"

static inline size_t live_slot(const struct live_table *table, uintptr_t address) {
    return (size_t)((address * 0x9E3779B97F4A7C15ULL) >> 20) & table->mask;
}

static int live_grow(struct live_table *table) {
    size_t old_capacity = table->keys == NULL ? 0 : table->mask + 1;
    size_t capacity = old_capacity == 0 ? 1 << 16 : old_capacity * 2;
    uintptr_t *keys = hook_map(capacity * sizeof *keys);
    uint64_t *sizes = hook_map(capacity * sizeof *sizes);
    struct live_tag *tags = table->with_sites ? hook_map(capacity * sizeof *tags) : NULL;
    if (keys == NULL || sizes == NULL || (table->with_sites && tags == NULL)) {
        hook_unmap(keys, capacity * sizeof *keys);
        hook_unmap(sizes, capacity * sizeof *sizes);
        hook_unmap(tags, capacity * sizeof *tags);
        return 0;
    }
    uintptr_t *old_keys = table->keys;
    uint64_t *old_sizes = table->sizes;
    struct live_tag *old_tags = table->tags;
    table->keys = keys;
    table->sizes = sizes;
    table->tags = tags;
    table->mask = capacity - 1;
    for (size_t index = 0; index < old_capacity; index += 1) {
        if (old_keys[index] == 0) continue;
        size_t slot = live_slot(table, old_keys[index]);
        while (keys[slot] != 0) slot = (slot + 1) & table->mask;
        keys[slot] = old_keys[index];
        sizes[slot] = old_sizes[index];
        if (tags != NULL) tags[slot] = old_tags[index];
    }
    hook_unmap(old_keys, old_capacity * sizeof *old_keys);
    hook_unmap(old_sizes, old_capacity * sizeof *old_sizes);
    hook_unmap(old_tags, old_capacity * sizeof *old_tags);
    return 1;
}

HOOK_HIDDEN int live_insert(struct live_table *table, uintptr_t address, uint64_t size, struct live_tag tag,
    uint64_t *replaced_size, struct live_tag *replaced_tag) {
    // Up to three quarters full: the aggregate mode keeps this table in the program's memory for its whole run.
    if ((table->count + 1) * 4 > (table->keys == NULL ? 0 : table->mask + 1) * 3 && !live_grow(table)) return 0;
    size_t slot = live_slot(table, address);
    while (table->keys[slot] != 0 && table->keys[slot] != address) slot = (slot + 1) & table->mask;
    if (table->keys[slot] == 0) {
        table->count += 1;
        if (replaced_size != NULL) *replaced_size = UINT64_MAX;
    } else {
        if (replaced_size != NULL) *replaced_size = table->sizes[slot];
        if (replaced_tag != NULL && table->tags != NULL) *replaced_tag = table->tags[slot];
    }
    table->keys[slot] = address;
    table->sizes[slot] = size;
    if (table->tags != NULL) table->tags[slot] = tag;
    return 1;
}

HOOK_HIDDEN uint64_t live_remove(struct live_table *table, uintptr_t address, struct live_tag *tag) {
    if (table->keys == NULL) return UINT64_MAX;
    size_t slot = live_slot(table, address);
    while (table->keys[slot] != address) {
        if (table->keys[slot] == 0) return UINT64_MAX;
        slot = (slot + 1) & table->mask;
    }
    uint64_t size = table->sizes[slot];
    if (tag != NULL && table->tags != NULL) *tag = table->tags[slot];
    size_t hole = slot, next = (slot + 1) & table->mask;
    while (table->keys[next] != 0) {
        size_t home = live_slot(table, table->keys[next]);
        if (((hole - home) & table->mask) < ((next - home) & table->mask)) {
            table->keys[hole] = table->keys[next];
            table->sizes[hole] = table->sizes[next];
            if (table->tags != NULL) table->tags[hole] = table->tags[next];
            hole = next;
        }
        next = (next + 1) & table->mask;
    }
    table->keys[hole] = 0;
    table->count -= 1;
    return size;
}

HOOK_HIDDEN uint64_t live_find(const struct live_table *table, uintptr_t address, struct live_tag *tag) {
    if (table->keys == NULL) return UINT64_MAX;
    size_t slot = live_slot(table, address);
    while (table->keys[slot] != address) {
        if (table->keys[slot] == 0) return UINT64_MAX;
        slot = (slot + 1) & table->mask;
    }
    if (tag != NULL && table->tags != NULL) *tag = table->tags[slot];
    return table->sizes[slot];
}

HOOK_HIDDEN void live_release(struct live_table *table) {
    if (table->keys != NULL) {
        size_t capacity = table->mask + 1;
        hook_unmap(table->keys, capacity * sizeof *table->keys);
        hook_unmap(table->sizes, capacity * sizeof *table->sizes);
        hook_unmap(table->tags, capacity * sizeof *table->tags);
    }
    int with_sites = table->with_sites;
    *table = (struct live_table){0};
    table->with_sites = with_sites;
}
