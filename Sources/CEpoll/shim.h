#ifndef CMA_CEPOLL_SHIM_H
#define CMA_CEPOLL_SHIM_H
// epoll is not part of Swift's Glibc module. The HTTP server's connection queues each
// own one epoll set, watched by a single DispatchSourceRead (see ConnectionLoop.swift).
// Neither is <malloc.h>: the server fixes glibc's mmap threshold and trims the heap
// after a burst of buffered requests (see BufferBudget.swift).
#ifdef __linux__
#include <sys/epoll.h>
#include <malloc.h>
#endif
#endif
