/* placeholder: vl_open_process is being written (issue 2). */
#include "vmlua.h"

void vl_open_process(lua_State *L)
{
	(void)L;
}
