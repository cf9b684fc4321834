/* placeholder: vl_open_misc is being written (issue 2). */
#include "vmlua.h"

void vl_open_misc(lua_State *L)
{
	(void)L;
}
