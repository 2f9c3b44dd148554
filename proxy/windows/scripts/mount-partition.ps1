# Mounts one partition of an online read-only disk on a folder (an access path), and removes any
# drive letter Windows gave it, so nothing else on the proxy starts using the snapshot by letter.
# Argument (JSON): { "number": int, "uniqueId": string, "partitionNumber": int, "accessPath": string }
param([string]$InputJson)
$ErrorActionPreference = 'Stop'
$in = $InputJson | ConvertFrom-Json
$number = [int]$in.number
$disk = Get-Disk -Number $number
if ([string]$disk.UniqueId -ne [string]$in.uniqueId) {
  $ex = [System.Exception]::new("disk $number is now $($disk.UniqueId), not $($in.uniqueId): the disk numbering changed")
  $ex.Data['hvsnap'] = @{ kind = 'hvsnap'; code = 'proxy_failed'; disk = [string]$number }
  throw $ex
}
$path = ([string]$in.accessPath).TrimEnd('\') + '\'
New-Item -ItemType Directory -Force -Path $path | Out-Null
$part = Get-Partition -DiskNumber $number -PartitionNumber ([int]$in.partitionNumber)
$has = @($part.AccessPaths | Where-Object { ([string]$_).TrimEnd('\') -ieq $path.TrimEnd('\') }).Count -gt 0
if (-not $has) { Add-PartitionAccessPath -DiskNumber $number -PartitionNumber $part.PartitionNumber -AccessPath $path }
$removed = $null
if ($part.DriveLetter -and [int][char]$part.DriveLetter -ne 0) {
  $removed = [string]$part.DriveLetter
  Remove-PartitionAccessPath -DiskNumber $number -PartitionNumber $part.PartitionNumber -AccessPath ($removed + ':\')
}
$vol = Get-Volume -Partition (Get-Partition -DiskNumber $number -PartitionNumber $part.PartitionNumber)
ConvertTo-Json -Compress -InputObject ([ordered]@{
  accessPath = $path; removedDriveLetter = $removed; fileSystem = [string]$vol.FileSystem; label = [string]$vol.FileSystemLabel
})
