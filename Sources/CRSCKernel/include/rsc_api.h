/* Makes the public API types of include/rsc.h visible to the Swift target that implements them
 * (Sources/RSCCAPI), so the exported functions use exactly the header's structs. */
#include "../../../include/rsc.h"
