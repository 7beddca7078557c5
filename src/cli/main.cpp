#include <cstdio>
int main() { std::puts("spf"); return 0; }
