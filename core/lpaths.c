/* placeholder: vl_open_paths is being written (issue 2). */
#include "vmlua.h"

void vl_open_paths(lua_State *L)
{
	(void)L;
}
