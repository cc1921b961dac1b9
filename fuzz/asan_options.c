/* SPDX-License-Identifier: MIT */
/*
 * ASan's defaults for every fuzz target (ASAN_OPTIONS still overrides them).
 * The quarantine (freed memory kept poisoned before it is reused) is 256 MiB
 * by default; an input frees a few hundred KiB, so 32 MiB still covers the
 * last hundred inputs or so, every use-after-free within one input among
 * them, while the default made nearly every allocation fresh memory from the
 * kernel: the page faults and zeroing cost the page-table target a sixth of
 * its time.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=32";
}
