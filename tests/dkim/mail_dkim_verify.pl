#!/usr/bin/perl
# Verify the DKIM signatures of the message on standard input with Mail::DKIM (Debian's
# libmail-dkim-perl), looking keys up at the DNS server on 127.0.0.1:<port>, the first argument.
# Prints one line per signature: result, d=, s=, a=, and Mail::DKIM's detail, tab-separated.
use strict;
use warnings;
use Mail::DKIM::Verifier;
use Mail::DKIM::DNS;
use Net::DNS::Resolver;

my $port = shift @ARGV or die "usage: $0 PORT < message\n";
my $resolver = Net::DNS::Resolver->new(
    nameservers => ['127.0.0.1'], port => $port, recurse => 1,
    udp_timeout => 5, tcp_timeout => 5, retry => 1,
);
Mail::DKIM::DNS::resolver($resolver);

my $dkim = Mail::DKIM::Verifier->new();
binmode STDIN;
while (my $line = <STDIN>) {
    $line =~ s/\r?\n\z/\r\n/;   # Mail::DKIM wants CRLF line ends
    $dkim->PRINT($line);
}
$dkim->CLOSE;
foreach my $signature ($dkim->signatures) {
    printf "%s\t%s\t%s\t%s\t%s\n", $signature->result, $signature->domain // '', $signature->selector // '',
        $signature->algorithm // '', $signature->result_detail // '';
}
