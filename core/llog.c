/* placeholder: vl_open_log is being written (issue 2). */
#include "vmlua.h"

void vl_open_log(lua_State *L)
{
	(void)L;
}
