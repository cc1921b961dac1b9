/* A user's own functions that happen to carry the names of iovirt internals (lib/pagetable, on
 * the map/unmap path of main.c). Linked against the shared or the static library they must
 * neither clash (duplicate definition) nor replace the library's own: the libraries export
 * iovirt_* only (docs/abi.md). If the library called one of these, the consumer would abort. */
#include <stdlib.h>

void pt_inval(void);
void pt_node_alloc(void);
void pt_node_free(void);
void pt_inval(void) { abort(); }
void pt_node_alloc(void) { abort(); }
void pt_node_free(void) { abort(); }
