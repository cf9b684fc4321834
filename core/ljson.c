/* placeholder: vl_open_json is being written (issue 2). */
#include "vmlua.h"

void vl_open_json(lua_State *L)
{
	(void)L;
}
