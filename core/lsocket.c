/* placeholder: vl_open_socket is being written (issue 2). */
#include "vmlua.h"

void vl_open_socket(lua_State *L)
{
	(void)L;
}
